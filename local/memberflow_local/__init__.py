"""The embedded local stack: moto in-process, built from template.yaml. Never deployed."""
