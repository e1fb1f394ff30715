"""Export: SavedModels for TF Serving and loading any trained model for fill-mask."""
