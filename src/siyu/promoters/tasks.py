"""Promoter jobs (declared with siyu.jobs)."""
