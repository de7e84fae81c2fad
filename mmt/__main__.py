from mmt import main

main()
