from feedsvc.cli import entry

entry()
