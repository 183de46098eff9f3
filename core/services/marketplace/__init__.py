"""The marketplace: publish an agent as a listing (a snapshot without secrets), search it,
moderate it, rate it and install copies of it.

Who may do what with a listing is answered here once:
- see it: everyone while it is live (not hidden, not unpublished); otherwise only its owner,
  moderators and admins (anyone else gets 404);
- change summary, category and tags, republish: the owner, admins, and users with edit access to
  the agent (as for publishing it);
- set its status (active, featured, hidden): moderators and admins;
- unpublish: the owner and admins;
- rate: users who installed it, never its owner; install: anyone who can see it, while live.
"""

from core.secret_names import is_secret_key
from core.services.marketplace.installs import install_listing
from core.services.marketplace.listings import (
    get_listing,
    list_versions,
    publish_listing,
    unpublish_listing,
    update_listing,
)
from core.services.marketplace.ratings import list_ratings, rate_listing
from core.services.marketplace.search import search_listings

__all__ = [
    "get_listing",
    "install_listing",
    "is_secret_key",
    "list_ratings",
    "list_versions",
    "publish_listing",
    "rate_listing",
    "search_listings",
    "unpublish_listing",
    "update_listing",
]
