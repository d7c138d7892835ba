"""Moments (朋友圈, 栏目化): columns, calendar, publishing, likes and comments. docs/moments.md."""
