from copybot.cli.commands import main

main()
