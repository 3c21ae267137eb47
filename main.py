from workbench.ui.app import main

raise SystemExit(main())
