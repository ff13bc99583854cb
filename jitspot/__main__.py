from jitspot.cli import main

main()
