"""`lagscale simulate`: the real scaling loop against a modelled topic and Deployment, on fake time."""
