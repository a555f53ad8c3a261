"""Page routers, one module per audience: sign-in and home, sales (rep/manager), success (CSM), admin."""
