"""What `lagscale scale --target` sizes: a Deployment or StatefulSet (with optional leader election),
or local consumer processes; `build` turns the target settings into one of them."""
