from copybot.cli import main

main()
