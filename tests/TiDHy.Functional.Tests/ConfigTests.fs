module TiDHy.Functional.Tests.ConfigTests
