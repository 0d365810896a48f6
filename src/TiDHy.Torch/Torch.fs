module TiDHy.Torch.Placeholder
