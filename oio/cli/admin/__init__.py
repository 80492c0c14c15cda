"""`openio-admin` command groups (thin: logic lives in oio.admin and
oio.crawler)."""
