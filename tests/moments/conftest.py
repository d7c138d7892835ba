from tests.promoters.conftest import make_promoter  # noqa: F401  (fixture re-export)
