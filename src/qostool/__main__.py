from qostool.cli import main

main()
