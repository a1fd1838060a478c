"""One router per resource; ``infra.http.app`` includes them in this order."""
