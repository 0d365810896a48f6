module TiDHy.Functional.Tests.InitTests
