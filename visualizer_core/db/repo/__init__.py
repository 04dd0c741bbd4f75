"""Data access: every query of the project, and nothing else (no commits, no validation).

Functions take the SQLAlchemy session first. ``client_id=None`` means "every client" and is only
passed by services acting in the admin scope; services pass ``scope.client_filter()``. Services
pass plain values (ids, statuses, review states) and get rows back: they never build a statement.

One module per entity, each re-exported here so callers write ``repo.list_products(...)``:

- :mod:`~visualizer_core.db.repo.accounts`: users, sign-in, members and invitations;
- :mod:`~visualizer_core.db.repo.clients`: clients, their quota count and usage by day;
- :mod:`~visualizer_core.db.repo.products`: products and their photos;
- :mod:`~visualizer_core.db.repo.sessions`: studio sessions;
- :mod:`~visualizer_core.db.repo.images`: generated images and flows found by plain values, and
  what the workers do to them (claims, updates, heartbeats, recovery) and what a re-run starts from;
- :mod:`~visualizer_core.db.repo.review`: generated images as people see them (gallery page,
  review rows, lineage, the bulk approval rule);
- :mod:`~visualizer_core.db.repo.tables`: the notebook API's DataFrame tables across clients;
- ``_common``: ``get``, the client filter, chunks of ids and bulk updates, which every module
  shares (:mod:`~visualizer_core.db.batch_rows` and :mod:`~visualizer_core.db.ledger` too).
"""

from visualizer_core.db.repo._common import get
from visualizer_core.db.repo.accounts import (
    count_owners,
    invitations_of,
    member_by_invite,
    members_of,
    membership,
    memberships,
    remove_member,
    take_sign_in_attempt,
    user_by_email,
    user_by_reset_token,
)
from visualizer_core.db.repo.clients import (
    generated_since,
    list_clients,
    lock_client,
    usage_by_day,
)
from visualizer_core.db.repo.images import (
    claim_image,
    completed_images_of_client,
    finish_flow,
    flows_of,
    flows_with_webhook_deliveries,
    image_ids_of_flow,
    images_by_id,
    images_of_flow,
    images_of_session,
    open_counts_by_model,
    open_image_ids,
    open_images_of_client,
    recent_timings,
    rerun_sources,
    reruns_of,
    reset_orphaned_images,
    scene_in_use,
    status_counts,
    touch_images,
    unjudged_images,
    update_image,
    update_images,
)
from visualizer_core.db.repo.products import (
    images_of,
    list_products,
    products_by_sku,
    remove_product_image,
)
from visualizer_core.db.repo.review import (
    ApprovalRule,
    approve_by_rule,
    approve_rule_matches,
    count_rule_matches,
    gallery_page,
    judgements_saved,
    label_stamp,
    lineage_rows,
    review_labels,
    review_rows,
    rule_approvals,
    undo_rule_approvals,
)
from visualizer_core.db.repo.sessions import list_sessions, sessions_by_id
from visualizer_core.db.repo.tables import (
    Rows,
    client_table,
    generation_table,
    product_table,
    session_table,
)

__all__ = [
    "ApprovalRule",
    "Rows",
    "approve_by_rule",
    "approve_rule_matches",
    "claim_image",
    "client_table",
    "completed_images_of_client",
    "count_owners",
    "count_rule_matches",
    "finish_flow",
    "flows_of",
    "flows_with_webhook_deliveries",
    "gallery_page",
    "generated_since",
    "generation_table",
    "get",
    "image_ids_of_flow",
    "images_by_id",
    "images_of",
    "images_of_flow",
    "images_of_session",
    "invitations_of",
    "judgements_saved",
    "label_stamp",
    "lineage_rows",
    "list_clients",
    "list_products",
    "list_sessions",
    "lock_client",
    "member_by_invite",
    "members_of",
    "membership",
    "memberships",
    "open_counts_by_model",
    "open_image_ids",
    "open_images_of_client",
    "product_table",
    "products_by_sku",
    "recent_timings",
    "remove_member",
    "remove_product_image",
    "rerun_sources",
    "reruns_of",
    "reset_orphaned_images",
    "review_labels",
    "review_rows",
    "rule_approvals",
    "scene_in_use",
    "session_table",
    "sessions_by_id",
    "status_counts",
    "take_sign_in_attempt",
    "touch_images",
    "undo_rule_approvals",
    "unjudged_images",
    "update_image",
    "update_images",
    "usage_by_day",
    "user_by_email",
    "user_by_reset_token",
]
