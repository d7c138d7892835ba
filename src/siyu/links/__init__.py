"""Tracked links (推广链接): short and long links, QR codes, the redirect and its clicks."""
