"""Personal-information protection (PIPL): the access log and the logged full-phone reveal."""
