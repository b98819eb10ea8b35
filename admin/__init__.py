"""The dispatcher's side: login, the JSON API under /api/, and (later) the admin pages."""
