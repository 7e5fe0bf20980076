from lagscale.cli import main

main()
