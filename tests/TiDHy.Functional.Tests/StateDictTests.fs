module TiDHy.Functional.Tests.StateDictTests
