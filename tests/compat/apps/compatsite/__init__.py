"""A minimal real Django project standing in for the Django projects of the corpus."""
