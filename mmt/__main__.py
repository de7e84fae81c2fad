from mmt.entry import main

main()
