from tests.campaigns.conftest import operator, world  # noqa: F401  (fixture re-export)
from tests.promoters.conftest import make_promoter  # noqa: F401  (fixture re-export)
