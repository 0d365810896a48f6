module TiDHy.Functional.Tests.ForwardTests
