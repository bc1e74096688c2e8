"""The interactive landmark playground: its logic (`core`), its picture (`picture`) and the ipywidgets front end
(`widgets`)."""
