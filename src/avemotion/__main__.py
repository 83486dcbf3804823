from avemotion.cli.main import main

raise SystemExit(main())
