from textvae.cli import main

main()
