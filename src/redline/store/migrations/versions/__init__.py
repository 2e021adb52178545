"""The store's migrations, one file per change, oldest first (``revision`` / ``down_revision``)."""
