"""Volume and schema-change checks on the raw tables, judged against their own recent history."""

from reliability_assets import build_schema_check, build_volume_check

#: A 25% move in a day's customers or orders is worth a person's look (the drifted scenario's orders
#: fall 30%), but volume alone is not proof of bad data: WARN, never blocking.
MAX_VOLUME_CHANGE = 0.25

HISTORY_CHECKS = [
    check
    for table in ("customers", "orders")
    for check in (
        build_volume_check(table, max_change=MAX_VOLUME_CHANGE),
        build_schema_check(table),  # a removed, renamed or retyped column blocks downstream
    )
]
