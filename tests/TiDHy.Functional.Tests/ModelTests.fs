module TiDHy.Functional.Tests.ModelTests
