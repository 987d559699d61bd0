"""The example report the demo data is built from (../shared/reports/seed-2021)."""
