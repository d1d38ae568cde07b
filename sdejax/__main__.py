from sdejax._cli import main

raise SystemExit(main())
