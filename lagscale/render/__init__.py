"""`lagscale render`: Kubernetes manifests from the Jinja2 templates shipped in `templates/` (package
data), values merged from the defaults, `--values` files and `--set`, all checked before anything is
written."""
