"""REST edge of pricing (FastAPI, OpenAPI at /openapi.json and /docs): one router per resource.

    POST /v1/banks/{bank}/quotes            create (idempotent on request_id)      quotes.py
    GET  /v1/banks/{bank}/quotes/{quote}    one quote of the calling bank          quotes.py
    GET  /v1/banks/{bank}/quotes            the calling bank's quotes, newest first quotes.py
    GET  /v1/policies                       active bundle version and products     policies.py
    POST /v1/policies:dryRun                draft bundle vs recent quote inputs (admin)
    POST /v1/policies:activate              make a draft bundle live (admin)
    GET  /healthz                           liveness (not in the OpenAPI document)  health.py

Banks authenticate with `Authorization: Bearer <api key>`; the policy admin
with `Authorization: Bearer <CARBON_PRICING_ADMIN_TOKEN>`. Errors use the
platform's JSON shape {"error": {"code", "status", "message", "details"}}.
app.create_http_app includes the routers (and the loan book's, carbon_pricing.portfolio.rest).
"""
