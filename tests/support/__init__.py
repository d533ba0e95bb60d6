"""Test support that is not dev-kit: the browser accessibility audit (axe.py) and calls that honour
loan-pricing's fail-closed consent projection (fresh.py). Launchers, seeders and servers: carbon_devkit."""
