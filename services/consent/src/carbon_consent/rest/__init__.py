"""HTTP edge: one router per resource (enterprises, banks, consents, erasure requests, the enterprise's
one-click pages, health); app.create_http_app includes them. Routers call the core only."""
