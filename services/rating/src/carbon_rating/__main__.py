"""`python -m carbon_rating`: the rating service (gRPC, REST and government page; ports: carbon_common.catalog)."""

from carbon_common import logging as json_logging
from carbon_common.server import run

from carbon_rating.app import build
from carbon_rating.settings import RatingSettings

if __name__ == "__main__":
    settings = RatingSettings()
    json_logging.configure(settings.service_name, settings.log_level)  # so start-up logs are JSON too
    run(build(settings))
