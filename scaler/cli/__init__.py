"""The command line of the scaler: `lagscale lag`, `lagscale scale` (= `python -m scaler`) and
`lagscale serve-grpc`. The only scaler code that imports click: options, settings and errors meet here."""
