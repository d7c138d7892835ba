"""Compliance lint for outgoing copy: WeChat's induced-sharing rules, the Advertising Law's
absolute terms and efficacy claims, price-fraud rules, and the "广告" label (docs/compliance.md)."""
