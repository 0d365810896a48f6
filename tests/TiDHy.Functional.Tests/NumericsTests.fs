module TiDHy.Functional.Tests.NumericsTests
