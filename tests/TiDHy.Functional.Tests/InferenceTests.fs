module TiDHy.Functional.Tests.InferenceTests
