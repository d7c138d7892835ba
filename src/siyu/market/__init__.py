"""The synthetic market (issue 7): see siyu.market.generator and docs/market.md."""
