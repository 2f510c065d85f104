<!-- vocloud's VO test resource: synthetic H-alpha spectra of Be stars, labelled by class.

Installed by setup.sh as /var/gavo/inputs/vospec/q.rd (RD id vospec/q, schema vospec); the data
under data/ are written by make_data.py from vocloud.datasets. Started from the DaCHS 2.7
template (`dachs start ssap+datalink`) and the DaCHS reference documentation.

What it serves (all on http://localhost:8080):
  TAP      vospec.ssa: the SSA view, one row per spectrum, with the extra column class_label;
           the same rows in ivoa.obscore (obs_collection 'vocloud-synth')
  SSAP     /vospec/q/ssap/ssap.xml
  DataLink /vospec/q/dl/dlmeta?ID=<pubDID>; SODA /vospec/q/dl/dlget?ID=<pubDID>&BAND=lo hi (metres)
           giving SDM VOTables with columns spectral (Angstrom) and flux
Publisher DIDs: ivo://vocloud.test/~?vospec/data/NNNN/spec-NNNNNNNNN.fits (DaCHS standard PubDIDs).
-->
<resource schema="vospec" resdir="vospec">
  <meta name="creationDate">2026-11-27T00:00:00Z</meta>
  <meta name="title">vocloud synthetic H-alpha spectra (integration tests)</meta>
  <meta name="description">
    Synthetic one-dimensional spectra around H-alpha (about 6270 to 6740 Angstrom, linear
    dispersion of about 0.235 Angstrom per pixel, R 11000 to 15000, like the Ondrejov 2-m CCD700)
    of Be stars in five profile classes (absorption, emission-in-absorption, double-peak,
    single-peak, shell) plus a few outliers, made by vocloud.datasets.  The class of every
    spectrum is given in class_label.  A local target for testing data mining over TAP, SSAP,
    ObsCore, DataLink and SODA cutouts; not real data.
  </meta>
  <meta name="subject">spectroscopy</meta>
  <meta name="subject">be-stars</meta>
  <meta name="creator">vocloud developers</meta>
  <meta name="publisher">vocloud VO test server</meta>
  <meta name="instrument">synthetic CCD700-like spectrograph</meta>
  <meta name="facility">none (simulation)</meta>
  <meta name="contentLevel">Research</meta>
  <meta name="type">Simulation</meta>
  <meta name="coverage.waveband">Optical</meta>
  <meta name="ssap.dataSource">artificial</meta>
  <meta name="ssap.creationType">archival</meta>
  <meta name="productType">spectrum</meta>
  <meta name="ssap.testQuery">MAXREC=1</meta>

  <!-- ===================================================================== metadata table -->
  <table id="spectra" onDisk="True" adql="hidden" namePath="//ssap#instance">
    <LOOP listItems="ssa_dateObs ssa_dstitle ssa_targname ssa_length ssa_specres
        ssa_timeExt ssa_specstart ssa_specend ssa_snr ssa_redshift">
      <events>
        <column original="\item"/>
      </events>
    </LOOP>
    <mixin>//products#table</mixin>
    <mixin>//ssap#plainlocation</mixin>
    <mixin>//ssap#simpleCoverage</mixin>

    <column name="class_label" type="text" ucd="meta.code.class;src.class"
      tablehead="Class" verbLevel="1"
      description="Profile class of the H-alpha line (vocloud.datasets.CLASSES, or
        'outlier'): the label for supervised learning.">
      <values>
        <option>absorption</option>
        <option>emission-in-absorption</option>
        <option>double-peak</option>
        <option>single-peak</option>
        <option>shell</option>
        <option>outlier</option>
      </values>
    </column>
    <column name="resolving_power" type="real" ucd="spect.resolution"
      tablehead="R" verbLevel="15"
      description="Resolving power lambda/delta lambda of the (synthetic) spectrograph."/>
    <column name="datalink" type="text" ucd="meta.ref.url" tablehead="Datalink"
      verbLevel="15" displayHint="type=url"
      description="The DataLink document of this spectrum.">
      <property name="targetType">application/x-votable+xml;content=datalink</property>
      <property name="targetTitle">Datalink</property>
    </column>
  </table>

  <data id="import">
    <recreateAfter>make_view</recreateAfter>
    <sources recurse="True" pattern="data/*/*.fits"/>
    <fitsProdGrammar qnd="True">
      <rowfilter procDef="//products#define">
        <bind key="table">"\schema.spectra"</bind>
        <!-- the product is the SDM VOTable made on the fly by the DataLink service -->
        <bind key="path">\fullDLURL{dl}</bind>
        <bind key="fsize">60000</bind>
        <bind key="datalink">"\rdId#dl"</bind>
        <bind key="mime">"application/x-votable+xml"</bind>
        <bind key="preview">None</bind>
      </rowfilter>
    </fitsProdGrammar>

    <make table="spectra">
      <rowmaker idmaps="*">
        <var key="wcs">getWCSAxis(@header_, 1)</var>
        <apply procDef="//ssap#fill-plainlocation">
          <bind key="ra">float(@RA)</bind>
          <bind key="dec">float(@DEC)</bind>
          <bind key="aperture">2/3600.</bind>
        </apply>
        <map key="ssa_dateObs">dateTimeToMJD(parseTimestamp(@DATE_OBS, "%Y-%m-%dT%H:%M:%S"))</map>
        <map key="ssa_dstitle">"{} H-alpha {} ({})".format(@OBJECT, @DATE_OBS, @VOSYNID)</map>
        <map key="ssa_targname">@OBJECT</map>
        <!-- SSA spectral coordinates are metres; the FITS axis is Angstrom -->
        <map key="ssa_specstart">@wcs.pixToPhys(1)*1e-10</map>
        <map key="ssa_specend">@wcs.pixToPhys(@wcs.axisLength)*1e-10</map>
        <map key="ssa_length">@wcs.axisLength</map>
        <map key="ssa_timeExt">float(@EXPTIME)</map>
        <map key="ssa_specres">6563e-10/float(@RESPOWER)</map>
        <map key="ssa_snr">float(@SNR)</map>
        <map key="ssa_redshift">float(@VRAD)/299792.458</map>
        <map key="class_label">@CLASS</map>
        <map key="resolving_power">float(@RESPOWER)</map>
        <map key="datalink">\dlMetaURI{dl}</map>
      </rowmaker>
    </make>
  </data>

  <!-- ============================================================ SSA view (TAP, ObsCore) -->
  <table id="ssa" onDisk="True" adql="True">
    <meta name="description">One row per synthetic spectrum (SSA data model) with its class.</meta>
    <meta name="_associatedDatalinkService">
      <meta name="serviceId">dl</meta>
      <meta name="idColumn">ssa_pubDID</meta>
    </meta>
    <mixin
      sourcetable="spectra"
      copiedcolumns="*"
      ssa_aperture="2/3600."
      ssa_binSize="2.35e-11"
      ssa_fluxunit="''"
      ssa_spectralunit="'Angstrom'"
      ssa_bandpass="'Optical'"
      ssa_collection="'vocloud-synth'"
      ssa_fluxcalib="'NORMALIZED'"
      ssa_fluxucd="'phot.flux.density;em.wl'"
      ssa_speccalib="'ABSOLUTE'"
      ssa_spectralucd="'em.wl'"
      ssa_targclass="'Be*'"
    >//ssap#view</mixin>
    <mixin
      calibLevel="2"
      coverage="ssa_region"
      sResolution="ssa_spaceres"
      oUCD="ssa_fluxucd"
      emUCD="ssa_spectralucd"
      preview="NULL"
    >//obscore#publishSSAPMIXC</mixin>
  </table>

  <data id="make_view" auto="False">
    <make table="ssa"/>
  </data>

  <coverage>
    <updater sourceTable="ssa"/>
  </coverage>

  <!-- ================================================ one spectrum as DataLink/SODA give it -->
  <table id="sdm" onDisk="False">
    <mixin ssaTable="ssa" spectralDescription="Wavelength (air)"
      fluxDescription="Flux, normalised to 1 at the continuum near H-alpha"
    >//ssap#sdm-instance</mixin>
    <meta name="description">A synthetic spectrum around H-alpha.</meta>
  </table>

  <data id="sdm_rows" auto="False">
    <embeddedGrammar>
      <iterator>
        <code>
          from gavo.utils import pyfits
          # a standard pubDID: ivo://authority/~?inputs-relative path of the FITS file
          relPath = urllib.parse.unquote(self.sourceToken["ssa_pubDID"].split("?", 1)[-1])
          with pyfits.open(os.path.join(base.getConfig("inputsDir"), relPath)) as hdus:
            axis = getWCSAxis(hdus[0].header, 1)
            for pix, value in enumerate(hdus[0].data):
              yield {"spectral": axis.pix0ToPhys(pix), "flux": float(value)}
        </code>
      </iterator>
    </embeddedGrammar>
    <make table="sdm">
      <parmaker>
        <apply procDef="//ssap#feedSSAToSDM"/>
      </parmaker>
    </make>
  </data>

  <!-- =========================================================================== services -->
  <service id="dl" allowed="dlget,dlmeta">
    <meta name="title">vospec DataLink and SODA</meta>
    <datalinkCore>
      <descriptorGenerator procDef="//soda#sdm_genDesc">
        <bind key="ssaTD">"\rdId#ssa"</bind>
      </descriptorGenerator>
      <dataFunction procDef="//soda#sdm_genData">
        <bind key="builder">"\rdId#sdm_rows"</bind>
      </dataFunction>
      <FEED source="//soda#sdm_plainfluxcalib"/>
      <FEED source="//soda#sdm_cutout"/>
      <FEED source="//soda#sdm_format"/>
    </datalinkCore>
  </service>

  <service id="ssap" allowed="ssap.xml">
    <meta name="shortName">vospec SSAP</meta>
    <meta name="title">vocloud synthetic spectra SSAP</meta>
    <meta name="ssap.complianceLevel">full</meta>
    <publish render="ssap.xml" sets="ivo_managed"/>
    <ssapCore queriedTable="ssa">
      <FEED source="//ssap#hcd_condDescs"/>
    </ssapCore>
  </service>

  <regSuite title="vospec regression">
    <regTest title="vospec SSAP answers a position query">
      <url REQUEST="queryData" POS="180,0" SIZE="180">ssap/ssap.xml</url>
      <code>
        self.assertHasStrings("vospec/data/", "ivo://vocloud.test/~?")
      </code>
    </regTest>
  </regSuite>
</resource>
