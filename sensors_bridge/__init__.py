"""Live state: adapters, device registry, store, rules, live hub, simulator."""
