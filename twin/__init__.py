"""The application: settings, CLI, FastAPI app, auth, API routers, embedded services."""
