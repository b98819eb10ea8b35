"""The dispatcher's side: logins (auth), the JSON API under /api/ (api/, one router per area, with the
shared dependencies in deps), the server-rendered pages under /admin/ (pages), all listed in routers."""
