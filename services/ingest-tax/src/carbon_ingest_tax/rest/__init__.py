"""HTTP edge: one router per resource (health, invoice uploads); app.create_http_app includes them."""
